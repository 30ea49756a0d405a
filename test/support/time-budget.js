/**
 * Per-test time budget of each suite: a hung client fails its test instead of the whole run. The
 * contract suite's DynamoDB Local tests (hundreds of transactions, conflicts retried with backoff)
 * share two cores with the end-to-end stress tests: their budget is a hang detector, not a speed limit.
 */
const BUDGET_MS = { unit: 20_000, contract: 120_000, cdk: 120_000, e2e: 240_000 };
const suite = /[\\/]test[\\/](\w+)[\\/]/.exec(expect.getState().testPath ?? '')?.[1];
jest.setTimeout(BUDGET_MS[suite] ?? 30_000);
