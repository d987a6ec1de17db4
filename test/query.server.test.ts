import { querySuite } from './query/suite.js';

querySuite('server');
