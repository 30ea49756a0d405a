import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { CERTIFICATE_ARN, synthesizeOnce } from './fixture';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

const VARIANTS = {
  'the default stack (CloudFront, ingest on)': {},
  'ingest off': { ingest: false },
  'a custom domain': { domainName: 'registry.example.com', certificateArn: CERTIFICATE_ARN },
  'a customer KMS key': { encryptionKeyArn: KEY_ARN, ingest: false },
  'public repositories and the Basic challenge': { publicRepositories: true, challenge: 'basic' as const, encryptionKeyArn: KEY_ARN },
  'replication destinations (an execute-api endpoint and a custom domain) and a customer KMS key': {
    ingest: false,
    encryptionKeyArn: KEY_ARN,
    replicationDestinations: [
      { region: 'eu-central-1', registryId: '123456789012', endpoint: 'https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod/' },
      { region: 'us-east-2', registryId: '444455556666', endpoint: 'https://registry.partner.example' },
    ],
  },
};

function acknowledgements(root: IConstruct): Array<{ path: string; id: string; reason: string }> {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, unknown>).map(([id, value]) => ({
        path: c.node.path,
        id,
        reason: typeof value === 'string' ? value : String((value as { reason?: string })?.reason ?? JSON.stringify(value)),
      }))),
  );
}

describe('cdk-nag AwsSolutions', () => {
  test.each(Object.entries(VARIANTS))('GIVEN %s WHEN the AwsSolutions pack checks it THEN there is no unacknowledged finding', (_name, props) => {
    const { app, nag } = synthesizeOnce(props);
    const report = nag.validateScope(app);
    const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}: ${v.description}`));
    expect(findings).toEqual([]);
  });

  test('GIVEN every variant WHEN its acknowledgements are listed THEN each one has a written reason', () => {
    for (const props of Object.values(VARIANTS)) {
      const { app } = synthesizeOnce(props);
      const acks = acknowledgements(app).filter((a) => a.id.includes('AwsSolutions-'));
      expect(acks.length).toBeGreaterThan(5);
      for (const ack of acks) {
        expect({ ...ack, reasonLongEnough: ack.reason.length >= 60 }).toEqual({ ...ack, reasonLongEnough: true });
      }
    }
  });

  test('GIVEN a bucket without TLS enforcement WHEN the pack checks it THEN synth fails and the finding is reported (the check is live, not vacuous)', () => {
    const app = new App();
    const stack = new Stack(app, 'Control');
    new s3.Bucket(stack, 'Plain');
    const nag = new AwsSolutionsChecks(app);
    Validations.of(app).addPlugins(nag);
    // Registered on the app, the pack fails the synth...
    expect(() => Template.fromStack(stack)).toThrow(/AwsSolutions-S10/);
    // ...and reports the same through validateScope, which the tests above rely on.
    const rules = nag.validateScope(app).violations.map((v) => v.ruleName);
    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-S10']));
  });
});
