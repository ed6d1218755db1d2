import { Link } from 'react-router-dom';
import { EmptyState } from '../components/empty-state';
import { PageHeader } from '../components/page';

export function NotFoundPage() {
  return (
    <>
      <PageHeader title="Page not found" />
      <EmptyState title="There is no page at this address" icon="question" action={<Link to="/" className="btn btn-primary">Go to the dashboard</Link>}>
        It may have moved, or the link is mistyped.
      </EmptyState>
    </>
  );
}
