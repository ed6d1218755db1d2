// Repositories a caller may pull, page by page: the catalog and the API's repository list share it.
import type { Authorizer } from '../auth/authorizer.js';
import type { Services } from './services.js';

export async function visibleRepositories(
  s: Services, az: Authorizer | null, n: number, last: string | undefined, contains?: string,
): Promise<{ names: string[]; more: boolean }> {
  // Without authentication everybody sees everything; otherwise the policy says whether to ask per name.
  const everything = !az || az.pullsEverything();
  const names: string[] = [];
  let cursor = last;
  for (;;) {
    // The search is in the database: a page holds only matching names, whatever their number.
    const page = await s.repositories.list(Math.max(n, 100), cursor, contains);
    for (const name of page.names) if ((everything || (await az!.can({ type: 'repository', name }, 'pull')))) names.push(name);
    if (names.length > n || !page.more || page.names.length === 0) return { names: names.slice(0, n), more: names.length > n };
    cursor = page.names[page.names.length - 1];
  }
}
