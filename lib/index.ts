export * from './registry-storage';
export * from './registry-api';
export * from './registry-events';
export * from './registry-gc';
export * from './ingest-service';
export * from './registry-stack';
export * from './repository-patterns';
export * from './table-schema';
