/**
 * The layers of docs/architecture.md, checked on every `npm test` (npm run lint): which room may
 * import which, no import cycles, and no emulator or stand-in reachable from production code.
 * @type {import('dependency-cruiser').IConfiguration}
 */
// The adapter rooms: storage (files + LMDB, DynamoDB, S3), the other AWS services, and the event
// sinks (lambdas/events: the events file, webhooks). The core and http reach them only through ports.
const PRODUCTION_ADAPTERS = '^lambdas/(storage/(local|dynamodb|s3)/|aws/|events/)';
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'An import cycle makes load order matter and rooms inseparable.',
      severity: 'error',
      from: { path: '^(lambdas|lib|bin)/' },
      to: { circular: true },
    },
    {
      name: 'core-imports-no-aws-sdk',
      comment: 'The domain never speaks to AWS: adapters in lambdas/storage and lambdas/aws do.',
      severity: 'error',
      from: { path: '^lambdas/core/' },
      to: { path: 'node_modules/(@aws-sdk|@smithy|@aws-lambda-powertools|@middy|aws-lambda|aws-cdk-lib|lmdb)/' },
    },
    {
      name: 'core-imports-no-outer-room',
      comment: 'The core depends on its ports (lambdas/storage/ports.ts, core/events.ts) and contracts, never on adapters, transport or entry points.',
      severity: 'error',
      from: { path: '^lambdas/core/' },
      to: { path: `${PRODUCTION_ADAPTERS}|^lambdas/(http|server|handlers|composition|cli|emulators)/` },
    },
    {
      name: 'http-imports-no-adapter',
      comment: 'Transport-neutral routing and the ECR protocol reach storage through the core and the ports only.',
      severity: 'error',
      from: { path: '^lambdas/http/' },
      to: { path: `${PRODUCTION_ADAPTERS}|^lambdas/(server|handlers|composition|cli|emulators)/` },
    },
    {
      name: 'adapters-import-no-transport',
      comment: 'Adapters implement ports; they know nothing of requests, entry points or composition.',
      severity: 'error',
      from: { path: '^lambdas/(storage|events)/' },
      to: { path: '^lambdas/(http|server|handlers|composition|cli|emulators)/' },
    },
    {
      name: 'contracts-are-leaves',
      comment: 'A contract module (read by lib/ and lambdas/) imports only contracts and the pure leaf modules of the core.',
      severity: 'error',
      from: { path: '^lambdas/contracts/' },
      to: { path: '^lambdas/', pathNot: '^lambdas/(contracts/|core/(names|errors|digest|media-types)\\.ts$)' },
    },
    {
      name: 'production-imports-no-emulator',
      comment: 'Emulators and stand-ins answer for AWS without being AWS: only the emulated mode and tests load them.',
      severity: 'error',
      from: { path: '^(lambdas|lib|bin)/', pathNot: '^lambdas/(emulators/|cli/emulate-aws\\.ts$)' },
      to: { path: '^lambdas/emulators/' },
    },
    {
      name: 'lib-imports-only-contracts',
      comment: 'CDK constructs describe infrastructure: of the code that runs they read only the contracts.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^lambdas/', pathNot: '^lambdas/contracts/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(cdk\\.out|\\.test-work)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
