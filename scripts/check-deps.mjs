// `npm run check:deps`: the import rules of .dependency-cruiser.cjs, then two rules dependency-cruiser's
// rules cannot say:
// - no cycle between folders of src/ (a folder is the first level under src/; main.ts is its own node).
//   Every import counts, type-only ones too: a folder that names another's types depends on it.
// - nothing but db/ builds SQL. Importing kysely is the visible part (sql-only-in-db), but a Db or Tx handle
//   is a Kysely instance, so code anywhere can call tx.selectFrom(...) without importing kysely. This reads
//   every module of src/ outside db/ (syntax only, no type checking) for the query builder's entry points
//   and kysely's `sql` template, and reports where they are used.
// Exits 1 on any violation.
import { readFileSync } from 'node:fs';
import { cruise, format } from 'dependency-cruiser';
import ts from 'typescript';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const ROOTS = ['src', 'web/src'];
const options = await extractDepcruiseOptions('./.dependency-cruiser.cjs');
const tsConfig = extractTSConfig(options.tsConfig?.fileName ?? 'tsconfig.json');
const { output: result } = await cruise(ROOTS, options, undefined, { tsConfig });

const report = await format(result, { outputType: 'err' });
process.stdout.write(report.output);

/** src/<folder>/… → folder; src/main.ts → main.ts; anything outside src/ → null (not a node). */
const folderOf = (path) => {
  const m = /^src\/(?:([^/]+)\/|([^/]+)$)/.exec(path);
  return m ? (m[1] ?? m[2]) : null;
};

// Folder graph: for each folder pair, the file imports that make the edge.
const edges = new Map();
for (const mod of result.modules) {
  const from = folderOf(mod.source);
  if (!from) continue;
  for (const dep of mod.dependencies) {
    const to = folderOf(dep.resolved);
    if (!to || to === from) continue;
    if (!edges.has(from)) edges.set(from, new Map());
    const byTarget = edges.get(from);
    if (!byTarget.has(to)) byTarget.set(to, []);
    byTarget.get(to).push(`${mod.source} → ${dep.resolved}${dep.dependencyTypes.includes('type-only') ? ' (type-only)' : ''}`);
  }
}

// Tarjan's strongly connected components: every component with more than one folder holds a cycle.
const index = new Map(), low = new Map(), stack = [], onStack = new Set(), components = [];
let counter = 0;
const visit = (v) => {
  index.set(v, counter); low.set(v, counter); counter++;
  stack.push(v); onStack.add(v);
  for (const w of edges.get(v)?.keys() ?? []) {
    if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
    else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) === index.get(v)) {
    const component = [];
    let w;
    do { w = stack.pop(); onStack.delete(w); component.push(w); } while (w !== v);
    if (component.length > 1) components.push(component.sort());
  }
};
for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);

for (const component of components) {
  process.stdout.write(`\n  error no-folder-cycle: ${component.join(', ')} depend on each other:\n`);
  for (const from of component) {
    for (const [to, imports] of edges.get(from) ?? []) {
      if (!component.includes(to)) continue;
      process.stdout.write(`    ${from} → ${to}:\n${imports.map((i) => `      ${i}\n`).join('')}`);
    }
  }
}
if (components.length) process.stdout.write(`\nx ${components.length} folder cycle(s) in src/.\n`);

// Query building outside db/: calls of the builder's entry points on any receiver, and kysely's `sql` tag
// (sql`…`, sql<T>`…`, sql.raw(…), sql.ref(…), …). Names, not types: an unrelated method with one of these
// names would be reported too (there is none today).
const BUILDER = new Set(['selectFrom', 'selectNoFrom', 'insertInto', 'replaceInto', 'updateTable', 'deleteFrom', 'mergeInto']);
const sqlUses = [];
for (const mod of result.modules) {
  if (!/^src\/.*\.tsx?$/.test(mod.source) || mod.source.startsWith('src/db/')) continue;
  const file = ts.createSourceFile(mod.source, readFileSync(mod.source, 'utf8'), ts.ScriptTarget.Latest, true);
  const found = new Map();
  const note = (what, node) => {
    const line = file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1;
    if (!found.has(what)) found.set(what, []);
    found.get(what).push(line);
  };
  const isSqlTag = (e) => ts.isIdentifier(e) && e.text === 'sql';
  const walk = (node) => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const { name, expression } = node.expression;
      if (BUILDER.has(name.text)) note(`.${name.text}()`, node);
      else if (isSqlTag(expression)) note(`sql.${name.text}()`, node);
    } else if (ts.isTaggedTemplateExpression(node) && isSqlTag(node.tag)) note('sql`…`', node);
    ts.forEachChild(node, walk);
  };
  walk(file);
  if (found.size) sqlUses.push({ source: mod.source, found });
}
if (sqlUses.length) process.stdout.write('\n');
for (const { source, found } of sqlUses.sort((a, b) => a.source.localeCompare(b.source))) {
  const total = [...found.values()].reduce((n, lines) => n + lines.length, 0);
  const detail = [...found].map(([what, lines]) => `${what} ×${lines.length} (line ${lines.slice(0, 5).join(', ')}${lines.length > 5 ? ', …' : ''})`).join('; ');
  process.stdout.write(`  error sql-built-outside-db: ${source}: ${total} — ${detail}\n`);
}
if (sqlUses.length) process.stdout.write(`\nx ${sqlUses.length} module(s) outside db/ build SQL.\n`);

process.exitCode = report.exitCode > 0 || components.length > 0 || sqlUses.length > 0 ? 1 : 0;
