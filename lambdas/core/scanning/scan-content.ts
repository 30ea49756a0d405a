/**
 * What a scan stores besides its record (docs/scanning.md): the findings, and the package inventory
 * that lets the image be matched again without reading its layers. Both are gzipped JSON documents,
 * kept by the ScanContentStore port (lambdas/storage/image-management-ports.ts) under the image, and
 * named in the scan record by the reference the store answers (`findingsRef`, `inventoryRef`).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { InstalledPackage, OsRelease, ScanFinding } from './model';

/** The kinds of content a scan stores. */
export type ScanContentKind = 'findings' | 'inventory';

/** A scan's findings, in the order DescribeImageScanFindings pages through them. */
export interface FindingsDocument {
  format: 1;
  findings: ScanFinding[];
}

/** A scanned image's inventory (for an index: one per platform image, each scanned as its own digest). */
export interface InventoryDocument {
  format: 1;
  os?: OsRelease;
  /** The OSV ecosystem of the OS packages (`Debian:12`), when the OS is known. */
  ecosystem?: string;
  packages: InstalledPackage[];
}

/** Encodes a document as stored. */
export function encodeScanContent(document: FindingsDocument | InventoryDocument): Uint8Array {
  return gzipSync(Buffer.from(JSON.stringify(document), 'utf8'));
}

/** Decodes a stored findings document; throws when it is not one. */
export function decodeFindings(bytes: Uint8Array): FindingsDocument {
  const value = JSON.parse(gunzipSync(bytes).toString('utf8')) as Partial<FindingsDocument>;
  if (value.format !== 1 || !Array.isArray(value.findings)) throw new Error('not a findings document (format 1)');
  return value as FindingsDocument;
}

/** Decodes a stored inventory document; throws when it is not one. */
export function decodeInventory(bytes: Uint8Array): InventoryDocument {
  const value = JSON.parse(gunzipSync(bytes).toString('utf8')) as Partial<InventoryDocument>;
  if (value.format !== 1 || !Array.isArray(value.packages)) throw new Error('not an inventory document (format 1)');
  return value as InventoryDocument;
}
