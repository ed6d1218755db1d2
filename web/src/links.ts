// URLs of the UI's pages. Repository names contain slashes; "/-/" separates a name from what follows
// (a name component can never be "-").
export const repoUrl = (name: string) => `/repositories/${name}`;
export const tagUrl = (name: string, reference: string) => `/repositories/${name}/-/tags/${encodeURIComponent(reference)}`;
export const orgUrl = (org: string, tab?: string) => `/organizations/${encodeURIComponent(org)}${tab ? `?tab=${tab}` : ''}`;
export const teamUrl = (org: string, team: string) => `/organizations/${encodeURIComponent(org)}/teams/${encodeURIComponent(team)}`;
export const webhookUrl = (org: string | null, id: number) => (org ? `/organizations/${encodeURIComponent(org)}/webhooks/${id}` : `/admin/webhooks/${id}`);
/** The namespace (first path component) of a repository name. */
export const namespaceOf = (name: string) => name.split('/')[0];
