import { querySuite } from './suite.js';

querySuite('embedded');
