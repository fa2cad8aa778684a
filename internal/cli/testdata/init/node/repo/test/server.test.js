const test = require('node:test');
test('nothing yet', () => {});
