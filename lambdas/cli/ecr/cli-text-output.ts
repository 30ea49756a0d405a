/**
 * The AWS CLI's `--output text`, for `berth ecr`: the same lines, tabs and identifiers, so that
 * scripts written against `aws ecr ... --output text` (usually with `--query`) read the same.
 *
 * The rules, as the CLI applies them: a scalar is printed on its own line (booleans and null as
 * Python prints them: True, False, None); a list of scalars on one tab-separated line, or, inside
 * a structure, one `IDENTIFIER<tab>value` line per element; a structure as one line of its scalar
 * members' values (sorted by member name; in a list of structures, the union of all elements'
 * scalar member names, a missing one printed empty), prefixed with its member name in capitals,
 * followed by its non-scalar members, each named by its own member name.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isStructure = (v: Json): v is { [key: string]: Json } => v !== null && typeof v === 'object' && !Array.isArray(v);
const isNonScalar = (v: Json): boolean => v !== null && typeof v === 'object';

export function formatCliText(value: unknown): string {
  const lines: string[] = [];
  formatValue(value as Json, undefined, undefined, lines);
  return lines.map((line) => `${line}\n`).join('');
}

function scalarText(value: Json | undefined): string {
  if (value === null) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  return value === undefined ? '' : String(value);
}

function formatValue(value: Json, identifier: string | undefined, scalarKeys: string[] | undefined, lines: string[]): void {
  if (isStructure(value)) formatStructure(value, identifier, scalarKeys, lines);
  else if (Array.isArray(value)) formatList(value, identifier, lines);
  else lines.push(scalarText(value));
}

function formatList(list: Json[], identifier: string | undefined, lines: string[]): void {
  if (list.length === 0) return;
  if (list.some(isStructure)) {
    const keys = [...new Set(list.filter(isStructure).flatMap((element) => Object.keys(element).filter((k) => !isNonScalar(element[k]))))].sort();
    for (const element of list) formatValue(element, identifier, keys, lines);
  } else if (list.some(Array.isArray)) {
    const scalars = list.filter((element) => !isNonScalar(element));
    if (scalars.length > 0) formatScalarList(scalars, identifier, lines);
    for (const element of list.filter(isNonScalar)) formatValue(element, identifier, undefined, lines);
  } else {
    formatScalarList(list, identifier, lines);
  }
}

function formatScalarList(scalars: Json[], identifier: string | undefined, lines: string[]): void {
  if (identifier === undefined) lines.push(scalars.map(scalarText).join('\t'));
  else for (const scalar of scalars) lines.push(`${identifier.toUpperCase()}\t${scalarText(scalar)}`);
}

function formatStructure(structure: { [key: string]: Json }, identifier: string | undefined, scalarKeys: string[] | undefined, lines: string[]): void {
  const keys = Object.keys(structure).sort();
  const scalarNames = scalarKeys ?? keys.filter((k) => !isNonScalar(structure[k]));
  const nonScalarNames = scalarKeys ? keys.filter((k) => !scalarKeys.includes(k)) : keys.filter((k) => isNonScalar(structure[k]));
  if (scalarNames.length > 0) {
    const values = scalarNames.map((k) => scalarText(structure[k]));
    lines.push((identifier !== undefined ? [identifier.toUpperCase(), ...values] : values).join('\t'));
  }
  for (const name of nonScalarNames) formatValue(structure[name], name, undefined, lines);
}
