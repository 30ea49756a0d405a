/** The `berth` command line's usage, printed by --help and after a wrong option. */
export const HELP = `Usage: berth serve [options]      (npm start -- [options])
       berth ingest [--port N] [--host ADDR] [--body-idle-timeout 60s]
       berth ecr get-login-password --endpoint-url URL [--region R] [--execute-api]
       berth gc [--data-dir DIR] [--dry-run] [--min-age 1h]
       berth stats [--repository R] [--endpoint URL | --data-dir DIR] [--json]
       berth events replay --webhook URL [--data-dir DIR] [--webhook-secret S]
       berth lifecycle preview --policy FILE --images FILE [--now ISO-8601]
       berth lifecycle run [--repository R] [--dry-run] [--now ISO-8601] [--endpoint URL | --data-dir DIR] [--json]
       berth vulndb import FILE... [--data-dir DIR] [--json]
       berth vulndb status [--data-dir DIR] [--json]

Runs the Berth registry on this machine, with its data in a local directory.

Options:
  --host ADDR        address to listen on (default 127.0.0.1; loopback only until
                     identities exist: an open registry on a network is nobody's intent)
  --config FILE      identities (access keys, their ARNs and identity policies) and the
                     registry's account and regions: see docs/local-identities.md. The
                     environment variables BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY
                     add an admin identity (every ecr: action). With identities, the ECR
                     API (POST /, SigV4) answers: aws ecr get-login-password --endpoint-url
  --challenge bearer|basic
                     with identities: the WWW-Authenticate challenge of a 401 (default
                     bearer: the Docker token flow, with which docker pulls public
                     repositories without login; basic: what ECR presents)
  --port N           port to listen on (default 5000; 0 picks a free port)
  --data-dir DIR     where blobs and metadata live (default ./data)
  --tls-cert FILE    PEM certificate: serve HTTPS (needs --tls-key)
  --tls-key FILE     PEM private key for --tls-cert
  --body-idle-timeout DURATION
                     a request body that sends nothing for this long is cut: the
                     request fails, its connection is closed, and the upload keeps
                     what it acknowledged, so the client resumes (default 60s; 30s,
                     2m, a number of seconds, or 0 for never; berth ingest too)
  --events-file FILE append each image event (ECR's "ECR Image Action" and "ECR Replication Action" shapes) to FILE
                     as one JSON line (docs/events.md)
  --webhook URL      POST each image event to URL as JSON, retried with backoff;
                     repeatable. Undelivered events go to a dead-letter file in the
                     data directory: berth events replay --webhook URL sends them again
  --webhook-secret S sign webhook bodies: X-Berth-Signature-256: sha256=<HMAC-SHA256>
                     (or webhookSecret in the --config file)
  --event-source S   the events' source (default berth.ecr; or eventSource in --config)
  --gc-interval DURATION
                     collect garbage while serving this often (default 1h; 0 never):
                     blob links no manifest uses and content no repository links go
                     once older than --gc-grace (docs/garbage-collection.md)
  --gc-grace DURATION
                     how old unused links and unlinked content must be (default 24h)
  --lifecycle-interval DURATION
                     carry out every repository's lifecycle policy this often, and once
                     at start-up (default 24h; 0 never): images expire and move to the
                     archive as the policies say (docs/lifecycle.md). With --emulate-aws:
                     how often the lifecycle runner function runs (the stack's
                     lifecycleSchedule)
  --emulate-aws      run the AWS path instead: DynamoDB Local (needs java), an S3
                     stand-in, the Lambda handlers behind a local API Gateway, and
                     the ingest server; everything in memory (see the README)
  --ingest-port N    with --emulate-aws: port of the ingest server (default: a free one)
  --basic-auth USER:PASSWORD
                     with --emulate-aws: the credential the authorizer accepts
                     (default: anonymous, loopback only; not with identities)
                     With --emulate-aws, --config and BERTH_ACCESS_KEY_ID work as for
                     serve: POST / takes SigV4 for execute-api (API Gateway's IAM
                     authorization; berth ecr get-login-password --execute-api), tokens
                     are signed by a KMS stand-in (a P-256 key in the data directory)
  --public-repositories
                     with --emulate-aws and identities: the stack's publicRepositories
                     (anonymous pulls of repositories whose policy allows Principal "*")
  -h, --help         show this help

berth ingest: the ingest service (upload bytes, authorized by upload tokens) on
DynamoDB and S3, configured by TABLE_NAME, BUCKET_NAME and UPLOAD_TOKEN_SECRET_ARN;
--port (default 8080), --host (default 0.0.0.0), --body-idle-timeout as for serve;
GET /healthz answers 200.

berth ecr get-login-password: the password of an ECR login token (GetAuthorizationToken with
the default AWS credential chain), for docker login -u AWS --password-stdin. --region defaults
to AWS_REGION, AWS_DEFAULT_REGION, then us-east-1; --execute-api signs for API Gateway's IAM
authorization (the deployed stack), which the AWS CLI cannot do.

berth lifecycle preview: what ECR's get-lifecycle-policy-preview would print, offline: --policy is
the policy document or what aws ecr get-lifecycle-policy prints, --images what aws ecr
describe-images prints; an invalid policy fails with PutLifecyclePolicy's message (docs/lifecycle.md).

berth lifecycle run: carries out lifecycle policies now, every repository's or --repository R's, and
prints each image expired or archived. --endpoint URL (default http://127.0.0.1:5000) asks the running
server, signed with BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY or the default AWS credential
chain (an identity allowed ecr:BatchDeleteImage; --region as for berth ecr); --data-dir DIR runs on a
stopped server's data directory under its lock. --dry-run prints what would go; --now measures ages at
another instant (ISO 8601); --json prints one JSON line per repository.

berth events replay: sends the events a webhook could not take (its dead-letter file in
--data-dir, or --dead-letters FILE) to it again, signed with --webhook-secret or the
webhookSecret of --config; receivers drop those they had by detail.berth-event-id.

berth gc: reclaims disk space in a local data directory (default ./data) while no server
uses it (stop the server first). As distribution's garbage-collect, a blob stays only while
a manifest in its repository uses it: blobs of deleted images and of manifests never pushed
are unlinked, and content no repository links is removed. --dry-run lists what would go;
--min-age keeps what changed more recently (default 1h; 30m, 2h, 1d, or 0).

berth vulndb import: loads OSV exports (<ecosystem>/all.zip as osv.dev publishes them, folders of
OSV .json records, or .json records) into a stopped server's --data-dir (default ./data) under its
lock, for the scanner to match against: each ecosystem Berth scans (Debian, Ubuntu, Alpine releases,
npm) replaces its previous data at once; others are skipped; bad records are listed, the rest imported.
berth vulndb status lists the ecosystems imported, their records and their source's age (a running
server's directory too).

berth stats: per repository and for the registry, the images, tags, blobs and stored bytes
(the registry's count a blob shared by repositories once), and what the garbage collector
last freed. --endpoint URL asks a running server (anonymously, or, if it asks for credentials,
with a login token got from BERTH_ACCESS_KEY_ID and BERTH_SECRET_ACCESS_KEY or the default AWS
credential chain; --region as for berth ecr); otherwise it reads a stopped server's --data-dir
(default ./data) under its lock. --repository R shows one repository; --json prints the figures
as JSON.
`;
