// Berth's import rules (README, "Layout and import rules"; /work/shared/DESIGN.md, Layout). Checked by
// `npm run check:deps` (scripts/check-deps.mjs), which also fails on an import cycle between folders of
// src/. Type-only imports count as edges too (tsPreCompilationDeps): a layer that names another's types
// depends on it; rules that tolerate type-only imports say so.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import the checker cannot resolve hides its edge from every other rule.',
      from: { path: '^(src|web/src)/' },
      to: { couldNotResolve: true },
    },
    {
      name: 'core-imports-nothing-of-ours',
      severity: 'error',
      comment: 'oci/, errors/ and lib/ are the bottom layer: node: builtins and npm packages only (and their own folder).',
      from: { path: '^src/(oci|errors|lib)/' },
      to: { pathNot: ['^src/$1/', '(^|/)node_modules/'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'http-through-services',
      severity: 'error',
      comment: 'http/ reaches the database and storage only through services (registry, auth, audit, events, jobs): no import of db/ or of a concrete storage driver. Tolerated for now: type-only imports of db/database.ts (Db, Tx), reported by http-names-db-types; anything else of database.ts is http-db-types-only.',
      from: { path: '^src/http/' },
      to: {
        path: '^src/(db|storage/drivers)/',
        pathNot: '^src/db/database\\.ts$',
      },
    },
    {
      name: 'http-db-types-only',
      severity: 'error',
      comment: 'http/ may name db/database.ts for its types only (never open or query the database).',
      from: { path: '^src/http/' },
      to: { path: '^src/db/database\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'http-names-db-types',
      severity: 'warn',
      comment: 'Tolerated for now, shown so it is not forgotten: http/ names the database handle types (Db, Tx) where it wires or passes them to services.',
      from: { path: '^src/http/' },
      to: { path: '^src/db/database\\.ts$', dependencyTypes: ['type-only'] },
    },
    {
      name: 'sql-only-in-db',
      severity: 'error',
      comment: 'Nothing but db/ builds SQL: only db/ imports the query builder and the database clients (also not as types).',
      from: { path: '^src/', pathNot: '^src/db/' },
      to: { path: '(^|/)node_modules/(@types/)?(kysely|better-sqlite3|pg|pg-[^/]+)/' },
    },
    {
      name: 'db-internals-stay-in-db',
      severity: 'error',
      comment: 'The table types, prepared SQL text and migrations are db/ internals: other folders call db/ query functions and may name only Db/Tx/MetadataStore (database.ts, type-only).',
      from: { path: '^src/', pathNot: '^src/db/' },
      to: { path: '^src/db/(schema\\.ts$|prepared\\.ts$|migrations/)' },
    },
    {
      name: 'concrete-implementations-in-main',
      severity: 'error',
      comment: 'Only the composition root (main.ts) and the CLI name concrete storage drivers and database dialects; a driver or dialect may import its own files.',
      from: { path: '^src/', pathNot: '^src/(main\\.ts$|cli/|storage/drivers/|db/dialects/)' },
      to: { path: '^src/(storage/drivers/|db/dialects/)' },
    },
    {
      name: 'open-database-in-main',
      severity: 'error',
      comment: 'Values of db/database.ts (probing, opening helpers) are for main.ts and the CLI; elsewhere it is imported for its types only (dialects are covered by concrete-implementations-in-main).',
      from: { path: '^src/', pathNot: '^src/(main\\.ts$|cli/|db/)' },
      to: { path: '^src/db/database\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'drivers-import-only-the-interface',
      severity: 'error',
      comment: 'A storage driver imports only the driver interface (and the bottom layer), so any wrapper can sit over any driver.',
      from: { path: '^src/storage/drivers/([^/]+)/' },
      to: { path: '^src/', pathNot: ['^src/storage/driver\\.ts$', '^src/storage/drivers/$1/', '^src/(oci|errors|lib)/'] },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A file cycle that exists at run time (ES modules may then see each other half-initialized). Type-only file cycles are harmless; folder cycles, types included, are checked by scripts/check-deps.mjs.',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'contracts-pure',
      severity: 'error',
      comment: 'The API contracts are zod schemas over pure modules (the web UI type-checks them): no server code with I/O. Of ours only the bottom layer, the roles and the event vocabulary; of npm only zod.',
      from: { path: '^src/http/contracts/' },
      to: {
        pathNot: ['^src/http/contracts/', '^src/(oci|errors|lib)/', '^src/auth/roles\\.ts$', '^src/events/event\\.ts$', '(^|/)node_modules/zod/'],
      },
    },
    {
      name: 'web-only-shared-contracts',
      severity: 'error',
      comment: 'The web UI talks to the server over HTTP only: of src/ it imports only the shared contracts module.',
      from: { path: '^web/' },
      to: { path: '^src/', pathNot: '^src/http/contracts/shared\\.ts$' },
    },
    {
      name: 'shared-contracts-pure',
      severity: 'error',
      comment: 'shared.ts reaches the UI bundle: it imports the contracts as types only (zod stays out) and values only from dependency-free modules.',
      from: { path: '^src/http/contracts/shared\\.ts$' },
      to: { pathNot: ['^src/auth/roles\\.ts$', '^src/http/contracts/api\\.ts$', '(^|/)node_modules/zod/'] },
    },
    {
      name: 'shared-contracts-types-only',
      severity: 'error',
      comment: 'A value import of the contracts or zod would put zod and the server-side validation in the UI bundle.',
      from: { path: '^src/http/contracts/shared\\.ts$' },
      to: { path: ['^src/http/contracts/api\\.ts$', '(^|/)node_modules/zod/'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'roles-dependency-free',
      severity: 'error',
      comment: 'auth/roles.ts is bundled into the UI: it imports nothing.',
      from: { path: '^src/auth/roles\\.ts$' },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: '(^|/)node_modules/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'types', 'default'],
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.d.ts', '.json'],
    },
    moduleSystems: ['es6', 'cjs'],
  },
};
