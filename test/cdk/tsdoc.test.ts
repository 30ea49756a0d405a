/**
 * The constructs' public surface is documented as aws-cdk-lib's is: every exported class, its
 * public members and exported function has TSDoc; every property of an exported `*Props`
 * interface has TSDoc, and an optional one says its default with `@default`. Read from lib/*.ts
 * with the TypeScript compiler API (syntax only: no type checking, so it takes milliseconds).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const LIB = path.resolve(__dirname, '../../lib');

function parse(fileName: string, text: string): ts.SourceFile {
  return ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, /* setParentNodes */ true, ts.ScriptKind.TS);
}

function libFiles(): ts.SourceFile[] {
  return fs
    .readdirSync(LIB)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => parse(`lib/${f}`, fs.readFileSync(path.join(LIB, f), 'utf8')));
}

function isExported(node: ts.Declaration): boolean {
  return (ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Export) !== 0;
}

function hasDoc(node: ts.Node): boolean {
  return ts
    .getJSDocCommentsAndTags(node)
    .some((doc) => ts.isJSDoc(doc) && (ts.getTextOfJSDocComment(doc.comment) ?? '').trim().length > 0);
}

function hasDefaultTag(node: ts.Node): boolean {
  return ts.getJSDocTags(node).some((tag) => tag.tagName.text === 'default' && (ts.getTextOfJSDocComment(tag.comment) ?? '').trim().length > 0);
}

function isPublicMember(member: ts.ClassElement): boolean {
  if (ts.isConstructorDeclaration(member) || ts.isClassStaticBlockDeclaration(member) || ts.isSemicolonClassElement(member)) return false;
  if (member.name && ts.isPrivateIdentifier(member.name)) return false;
  const flags = ts.getCombinedModifierFlags(member as ts.Declaration);
  return (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) === 0;
}

function nameOf(node: ts.NamedDeclaration): string {
  return node.name ? node.name.getText() : '(anonymous)';
}

/** Every documentation gap of `file`'s public surface, as `file: what`. */
function documentationGaps(file: ts.SourceFile): string[] {
  const gaps: string[] = [];
  const where = (what: string) => gaps.push(`${file.fileName}: ${what}`);
  for (const statement of file.statements) {
    if (ts.isClassDeclaration(statement) && isExported(statement)) {
      const cls = nameOf(statement);
      if (!hasDoc(statement)) where(`class ${cls} has no TSDoc`);
      for (const member of statement.members) {
        if (isPublicMember(member) && !hasDoc(member)) where(`${cls}.${nameOf(member)} has no TSDoc`);
      }
    } else if (ts.isInterfaceDeclaration(statement) && isExported(statement) && statement.name.text.endsWith('Props')) {
      const props = statement.name.text;
      if (!hasDoc(statement)) where(`interface ${props} has no TSDoc`);
      for (const member of statement.members) {
        if (!ts.isPropertySignature(member)) continue;
        if (!hasDoc(member)) where(`${props}.${nameOf(member)} has no TSDoc`);
        if (member.questionToken && !hasDefaultTag(member)) where(`${props}.${nameOf(member)} is optional but has no @default`);
      }
    } else if (ts.isFunctionDeclaration(statement) && isExported(statement) && !hasDoc(statement)) {
      where(`function ${nameOf(statement)} has no TSDoc`);
    }
  }
  return gaps;
}

/** The property names an exported interface of lib/ declares itself (not those it inherits). */
function ownProperties(interfaceName: string): string[] {
  for (const file of libFiles()) {
    for (const statement of file.statements) {
      if (ts.isInterfaceDeclaration(statement) && statement.name.text === interfaceName) {
        return statement.members.filter(ts.isPropertySignature).map(nameOf);
      }
    }
  }
  throw new Error(`interface ${interfaceName} not found in lib/`);
}

describe('TSDoc of the constructs (lib/*.ts)', () => {
  test('GIVEN lib/*.ts WHEN exported classes, their public members, exported functions and *Props interfaces are read THEN each is documented and each optional prop has @default', () => {
    const files = libFiles();
    expect(files.map((f) => f.fileName)).toEqual(expect.arrayContaining(['lib/registry-stack.ts', 'lib/registry-api.ts', 'lib/registry-storage.ts', 'lib/ingest-service.ts']));
    expect(files.flatMap(documentationGaps)).toEqual([]);
  });

  test('GIVEN undocumented members and an optional prop without @default WHEN checked THEN each gap is reported (the check is live, not vacuous)', () => {
    const sample = parse(
      'sample.ts',
      [
        '/** Documented. */',
        'export interface SampleProps {',
        '  /** Documented, required. */',
        '  readonly required: string;',
        '  /** Documented, but says no default. */',
        '  readonly noDefault?: number;',
        '  readonly undocumented?: boolean;',
        '  /**',
        '   * Fine.',
        '   *',
        '   * @default 3',
        '   */',
        '  readonly fine?: number;',
        '}',
        'export class Sample {',
        '  public readonly field = 1;',
        '  /** Documented. */',
        '  public method(): void {}',
        '  private hidden = 2;',
        '  protected inherited(): void {}',
        '  constructor() {}',
        '}',
        'export function helper(): void {}',
      ].join('\n'),
    );
    expect(documentationGaps(sample)).toEqual([
      'sample.ts: SampleProps.noDefault is optional but has no @default',
      'sample.ts: SampleProps.undocumented has no TSDoc',
      'sample.ts: SampleProps.undocumented is optional but has no @default',
      'sample.ts: class Sample has no TSDoc',
      'sample.ts: Sample.field has no TSDoc',
      'sample.ts: function helper has no TSDoc',
    ]);
  });

  test('GIVEN RegistryStackProps WHEN compared with RegistryApiProps THEN it declares none of the API\'s props again (they are picked, documented once)', () => {
    const api = new Set(ownProperties('RegistryApiProps'));
    const stack = ownProperties('RegistryStackProps');
    expect(stack.length).toBeGreaterThan(0);
    expect(stack.filter((name) => api.has(name))).toEqual([]);
  });
});
