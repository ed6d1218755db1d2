// The repository queries live in db/repositories.ts; re-exported here for the registry's services.
export {
  ensureRepository, findRepositoryId, listRepositories, repositorySummaries, type CatalogPage, type RepositorySummary,
} from '../db/repositories.js';
