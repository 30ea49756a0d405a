/** The context Lambda hands a function invocation, for the emulated mode's invocations of the real handlers. */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export interface EmulatedFunction {
  functionName: string;
  memoryMB: number;
  /** The function's timeout: getRemainingTimeInMillis counts down from it. */
  timeoutMs: number;
  region: string;
  account: string;
}

export function emulatedLambdaContext(fn: EmulatedFunction): Context {
  const deadline = Date.now() + fn.timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: fn.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${fn.region}:${fn.account}:function:${fn.functionName}`,
    memoryLimitInMB: String(fn.memoryMB),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${fn.functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
