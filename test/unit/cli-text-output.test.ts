import { formatCliText } from '../../lambdas/cli/ecr/cli-text-output';

// Expected outputs produced by the AWS CLI's own formatter (awscli/text.py) for the same values.
describe('formatCliText prints what `aws ... --output text` prints', () => {
  test.each([
    ['a boolean', true, 'True\n'],
    ['null', null, 'None\n'],
    ['a list of scalars', [1, 2, 'a'], '1\t2\ta\n'],
    ['an empty list', [], ''],
    ['an empty structure', {}, ''],
    [
      'a structure with scalars, a list and a nested list of structures',
      { b: false, a: null, list: ['x', 'y'], nested: { k: 'v', deep: [{ p: 1 }, { q: 2 }] } },
      'None\tFalse\nLIST\tx\nLIST\ty\nNESTED\tv\nDEEP\t1\t\nDEEP\t\t2\n',
    ],
    ['a list of structures with different members', [{ a: 1, n: [1, 2] }, { b: 2 }], '1\t\nN\t1\nN\t2\n\t2\n'],
    ['a list mixing scalars and lists', [['x', 'y'], 'z', [{ k: 1 }]], 'z\nx\ty\n1\n'],
  ])('GIVEN %s THEN the same text', (_what, value, expected) => {
    expect(formatCliText(value)).toBe(expected);
  });
});
