/**
 * The LifecycleDispatch of the AWS deployment: the lifecycle runner invokes itself asynchronously
 * (InvokeCommand, InvocationType 'Event') with the contract's events (contracts/lifecycle-runner.ts).
 * Lambda queues each event and answers 202 at once; a run that fails is retried by Lambda and then
 * goes to the function's dead-letter queue (lib/registry-lifecycle.ts), with its event, which names
 * the repository or the cursor.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { lifecycleDispatchEvent, lifecycleWorkerEvent, type LifecycleRunnerEvent } from '../contracts/lifecycle-runner';
import type { LifecycleDispatch } from '../core/lifecycle/fan-out';

export interface LambdaLifecycleDispatchOptions {
  client: Pick<LambdaClient, 'send'>;
  /** The function to invoke: the runner's own name (AWS_LAMBDA_FUNCTION_NAME) or ARN. */
  functionName: string;
}

export class LambdaLifecycleDispatch implements LifecycleDispatch {
  constructor(private readonly options: LambdaLifecycleDispatchOptions) {}

  runRepository(repository: string, continuation = 0): Promise<void> {
    return this.invoke(lifecycleWorkerEvent(repository, continuation));
  }

  continueFrom(cursor: string): Promise<void> {
    return this.invoke(lifecycleDispatchEvent(cursor));
  }

  private async invoke(event: LifecycleRunnerEvent): Promise<void> {
    const result = await this.options.client.send(
      new InvokeCommand({ FunctionName: this.options.functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(event)) }),
    );
    // An asynchronous invocation is queued when Lambda answers 202; anything else queued nothing.
    if (result.StatusCode !== 202) {
      throw new Error(`Lambda did not queue the lifecycle run ${JSON.stringify(event)}: status ${String(result.StatusCode)}${result.FunctionError ? `, ${result.FunctionError}` : ''}`);
    }
  }
}
