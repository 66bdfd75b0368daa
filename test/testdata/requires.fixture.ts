/** Run by test/unit/requires.test.ts in a jest of its own, with and without CI=true. */
import { file, requires } from '../harness/requires';

requires('eco-no-such-program').describe('needs a program nowhere on PATH', () => {
  test('never runs', () => {
    throw new Error('ran without its requirement');
  });
});

requires(file('/nonexistent/eco-optional.proto', 'optional even on CI', false)).test('needs an optional file', () => {
  throw new Error('ran without its requirement');
});

requires('sh').test('needs a program that is here', () => undefined);
