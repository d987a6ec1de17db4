import { querySuite } from './query/suite.js';

querySuite('embedded');
