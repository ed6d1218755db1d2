// PEP 503 normalized project names: case-insensitive, and runs of '-', '_' and '.' are one '-'.
// OSV PyPI records name "PyYAML"; dist-info directories say "PyYAML", "pyyaml" or "PyYAML-5.3.1".
export function normalizePypiName(name: string): string {
  return name.trim().toLowerCase().replace(/[-_.]+/g, '-');
}
