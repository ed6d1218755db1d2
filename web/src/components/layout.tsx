// The signed-in frame: a skip link, the navigation (a sidebar on wide screens, a bar on narrow ones), the
// user's menu, and the main region. After each navigation, focus moves to the new page's heading so
// screen-reader and keyboard users start at the top of the new content.
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { NavLink, useLocation } from 'react-router-dom';
import { useSession } from '../session';

export function Layout({ children }: { children: ReactNode }) {
  const { user, signOut, checkAlive } = useSession();
  const location = useLocation();
  const [announce, setAnnounce] = useState('');
  const first = useRef(true);
  useEffect(() => { checkAlive(); }, [location.pathname, checkAlive]);
  useEffect(() => {
    // On the first page shown, only take focus if nothing has it (e.g. right after signing in).
    if (first.current) {
      first.current = false;
      if (document.activeElement && document.activeElement !== document.body) return;
    }
    let tries = 0;
    // The page may still be loading its data: wait a few frames for its heading.
    const focus = () => {
      const h = document.querySelector<HTMLElement>('#main h1');
      if (h) { h.focus({ preventScroll: true }); window.scrollTo(0, 0); setAnnounce(document.title); return; }
      if (tries++ < 20) requestAnimationFrame(focus); else document.getElementById('main')?.focus();
    };
    requestAnimationFrame(focus);
  }, [location.pathname]);
  if (!user) return null;
  const item = (to: string, label: string, end = false) => (
    <li><NavLink to={to} end={end} className={({ isActive }) => `nav-link ${isActive ? 'active' : ''}`}>{label}</NavLink></li>
  );
  return (
    <div className="shell">
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.querySelector<HTMLElement>('#main h1')?.focus() ?? document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header className="sidebar">
        <NavLink to="/" className="brand" aria-label="Berth, dashboard">
          <svg viewBox="0 0 32 32" width="28" height="28" aria-hidden="true"><rect width="32" height="32" rx="7" fill="currentColor" className="brand-mark" /><path d="M6 20h20l-3 6H9z" fill="#fff" /><path d="M9 9h6v9H9zM17 6h6v12h-6z" fill="#c9d8ff" /></svg>
          <span>Berth</span>
        </NavLink>
        <nav aria-label="Main" className="nav">
          <ul>
            {item('/', 'Dashboard', true)}
            {item('/repositories', 'Repositories')}
            {item('/organizations', 'Organizations')}
          </ul>
          {user.admin ? (
            <>
              <div className="nav-heading" id="nav-admin">Administration</div>
              <ul aria-labelledby="nav-admin">
                {item('/admin/users', 'Users')}
                {item('/admin/webhooks', 'Webhooks')}
                {item('/admin/audit', 'Audit log')}
                {item('/admin/system', 'Garbage collection')}
              </ul>
            </>
          ) : null}
        </nav>
        <div className="user-box">
          <NavLink to="/account" className={({ isActive }) => `nav-link user-link ${isActive ? 'active' : ''}`}>
            <span className="avatar" aria-hidden="true">{user.name.slice(0, 1).toUpperCase()}</span>
            <span className="user-name"><span className="visually-hidden">Your account: </span>{user.displayName ?? user.name}</span>
          </NavLink>
          <button type="button" className="btn btn-ghost btn-sm" onClick={() => void signOut()}>Sign out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1} className="main">
        {children}
      </main>
      <div className="visually-hidden" aria-live="polite" aria-atomic="true">{announce}</div>
    </div>
  );
}
