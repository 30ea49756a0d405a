/**
 * Shared CDK fixtures. Synthesizing a stack bundles two Lambda functions with esbuild, so each
 * test file builds the stacks it needs once (memoized) and its tests read the same template.
 * Variant stacks that do not look at bundles skip bundling (`aws:cdk:bundling-stacks: []`).
 */
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RegistryStack, type RegistryStackProps } from '../../lib';

export const ENV = { account: '123456789012', region: 'eu-west-1' };
export const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';

export interface Synthesized {
  app: App;
  stack: RegistryStack;
  template: Template;
  nag: AwsSolutionsChecks;
}

/** A stack with cdk-nag's AwsSolutions pack registered on its app, as bin/app.ts does. */
export function synthesize(props: Partial<RegistryStackProps> = {}, options: { bundle?: boolean } = {}): Synthesized {
  const context: Record<string, unknown> = { 'aws:cdk:enable-path-metadata': true };
  if (!options.bundle) context['aws:cdk:bundling-stacks'] = [];
  const app = new App({ context });
  const stack = new RegistryStack(app, 'BerthRegistry', { env: ENV, ...props });
  const nag = new AwsSolutionsChecks(app);
  Validations.of(app).addPlugins(nag);
  const template = Template.fromStack(stack);
  return { app, stack, template, nag };
}

const cache = new Map<string, Synthesized>();
/** `synthesize` once per distinct argument list in this test file. */
export function synthesizeOnce(props: Partial<RegistryStackProps> = {}, options: { bundle?: boolean } = {}): Synthesized {
  const key = JSON.stringify([props, options]);
  let found = cache.get(key);
  if (!found) {
    found = synthesize(props, options);
    cache.set(key, found);
  }
  return found;
}

/** The logical id of the one resource of `type` whose construct path ends with `pathSuffix`. */
export function logicalIdOf(template: Template, type: string, pathSuffix: string): string {
  const resources = template.findResources(type);
  const matches = Object.entries(resources).filter(([, r]) => String(r.Metadata?.['aws:cdk:path'] ?? '').endsWith(pathSuffix));
  if (matches.length !== 1) {
    throw new Error(`expected one ${type} at …${pathSuffix}, found ${matches.length}: ${Object.keys(resources).join(', ')}`);
  }
  return matches[0][0];
}

/**
 * Dependency cycles inside one template (Ref, Fn::GetAtt, Fn::Sub and DependsOn edges).
 * CloudFormation rejects a cyclic template only at deploy time, so the tests look for them here.
 */
export function findCycle(template: Template): string[] | undefined {
  const resources = template.toJSON().Resources as Record<string, { DependsOn?: string | string[] }>;
  const edges = new Map<string, Set<string>>();
  const collect = (node: unknown, out: Set<string>): void => {
    if (Array.isArray(node)) node.forEach((n) => collect(n, out));
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'Ref' && typeof value === 'string' && value in resources) out.add(value);
        else if (key === 'Fn::GetAtt' && Array.isArray(value) && value[0] in resources) out.add(value[0]);
        else if (key === 'Fn::Sub') {
          const text = Array.isArray(value) ? value[0] : value;
          for (const m of String(text).matchAll(/\$\{([A-Za-z0-9]+)/g)) if (m[1] in resources) out.add(m[1]);
          collect(value, out);
        } else collect(value, out);
      }
    }
  };
  for (const [id, resource] of Object.entries(resources)) {
    const out = new Set<string>();
    collect(resource, out);
    for (const dep of [resource.DependsOn ?? []].flat()) out.add(dep);
    edges.set(id, out);
  }
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'open') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'open');
    stack.push(id);
    for (const next of edges.get(id) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of edges.keys()) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return undefined;
}
