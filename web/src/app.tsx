import { lazy, Suspense } from 'react';
import { Navigate, Route, Routes, useParams } from 'react-router-dom';
import { Layout } from './components/layout';
import { Loading } from './components/progress';
import { ErrorBanner } from './components/error-banner';
import { useSession } from './session';
import { EmptyState } from './components/empty-state';
import { PageHeader } from './components/page';
import type { ReactNode } from 'react';

/** Administration pages: others see one plain page saying so, not a page of failing requests. */
function AdminOnly({ children }: { children: ReactNode }) {
  const { user } = useSession();
  if (user?.admin) return <>{children}</>;
  return (
    <>
      <PageHeader title="Administrators only" />
      <EmptyState title="This page is for system administrators" icon="question">Ask a system administrator of this Berth if you need something done here.</EmptyState>
    </>
  );
}
import { LoginPage } from './pages/login';
import { DashboardPage } from './pages/dashboard';
import { RepositoriesPage } from './pages/repositories';
import { RepositoryPage } from './pages/repository';
import { TagPage } from './pages/tag';
import { OrganizationsPage } from './pages/organizations';
import { OrganizationPage } from './pages/organization';
import { TeamPage } from './pages/team';
import { AccountPage } from './pages/account';
import { NotFoundPage } from './pages/not-found';
import { GlobalWebhooksPage as WebhooksPage } from './pages/webhooks';

// Administration pages are loaded on demand: most visitors never open them.
const UsersPage = lazy(() => import('./pages/users').then((m) => ({ default: m.UsersPage })));
const WebhookPage = lazy(() => import('./pages/webhook').then((m) => ({ default: m.WebhookPage })));
const AuditPage = lazy(() => import('./pages/audit').then((m) => ({ default: m.AuditPage })));
const SystemPage = lazy(() => import('./pages/system').then((m) => ({ default: m.SystemPage })));

/** /repositories/NAME…[/-/tags/REF]: names contain slashes, "/-/" ends them. */
function RepositoryRoute() {
  const splat = useParams()['*'] ?? '';
  const [name, rest] = splat.split('/-/', 2) as [string, string | undefined];
  const clean = name.replace(/\/+$/, '');
  if (rest?.startsWith('tags/')) return <TagPage name={clean} reference={decodeURIComponent(rest.slice(5))} />;
  if (rest) return <NotFoundPage />;
  return <RepositoryPage name={clean} />;
}

export function App() {
  const { session, loadError } = useSession();
  if (session === undefined) return <div className="boot"><Loading label="Loading Berth…" /></div>;
  if (session === null) {
    return (
      <>
        {loadError ? <div className="boot-error"><ErrorBanner error={loadError} /></div> : null}
        <LoginPage />
      </>
    );
  }
  return (
    <Layout>
      <Suspense fallback={<Loading />}>
        <Routes>
          <Route path="/" element={<DashboardPage />} />
          <Route path="/login" element={<Navigate to="/" replace />} />
          <Route path="/repositories" element={<RepositoriesPage />} />
          <Route path="/repositories/*" element={<RepositoryRoute />} />
          <Route path="/organizations" element={<OrganizationsPage />} />
          <Route path="/organizations/:org" element={<OrganizationPage />} />
          <Route path="/organizations/:org/teams/:team" element={<TeamPage />} />
          <Route path="/organizations/:org/webhooks/:id" element={<WebhookPage />} />
          <Route path="/account" element={<AccountPage />} />
          <Route path="/admin/users" element={<AdminOnly><UsersPage /></AdminOnly>} />
          <Route path="/admin/webhooks" element={<AdminOnly><WebhooksPage /></AdminOnly>} />
          <Route path="/admin/webhooks/:id" element={<AdminOnly><WebhookPage /></AdminOnly>} />
          <Route path="/admin/audit" element={<AdminOnly><AuditPage /></AdminOnly>} />
          <Route path="/admin/system" element={<AdminOnly><SystemPage /></AdminOnly>} />
          <Route path="*" element={<NotFoundPage />} />
        </Routes>
      </Suspense>
    </Layout>
  );
}
