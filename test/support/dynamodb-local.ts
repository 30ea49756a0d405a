/**
 * DynamoDB Local for tests: the same instance code as `berth serve --emulate-aws` (see
 * lambdas/emulators/dynamodb-local.ts). Without `java` a block is skipped with a title naming
 * it; under CI=true it fails.
 */
import { startDynamoDbLocal, type DynamoDbLocal } from '../../lambdas/emulators/dynamodb-local';
import { describeWithBinaries } from './clients';

export { startDynamoDbLocal, type DynamoDbLocal };

/**
 * `describe` for a block that needs DynamoDB Local: starts it before the block and stops
 * it after; `local()` gives the running instance inside tests and hooks.
 */
export function describeWithDynamoDbLocal(title: string, body: (local: () => DynamoDbLocal) => void): void {
  describeWithBinaries(['java'], title, () => {
    let instance: DynamoDbLocal | undefined;
    beforeAll(async () => {
      instance = await startDynamoDbLocal();
    }, 60_000);
    afterAll(async () => {
      await instance?.stop();
    });
    body(() => {
      if (!instance) throw new Error('DynamoDB Local is not running (its beforeAll failed)');
      return instance;
    });
  });
}
