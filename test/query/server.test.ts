import { querySuite } from './suite.js';

querySuite('server');
