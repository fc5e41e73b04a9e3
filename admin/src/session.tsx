// Who is signed in. The session itself is the cookie only the browser holds; this keeps the
// user it belongs to, learns of its end from any 401, and says why on the sign-in page.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, whenSignedOut, type Role, type User } from './api/client';
import { ApiError, call } from './api/problem';
import { atLeastRole } from './api/roles';

type Session =
  | { state: 'loading' }
  | { state: 'signed-out'; reason: string | null }
  | { state: 'signed-in'; user: User };

interface SessionApi {
  session: Session;
  signIn(email: string, password: string): Promise<void>;
  signOut(): Promise<void>;
}

const Context = createContext<SessionApi | null>(null);

/** Whether `user` has at least `role`. The API decides; this only hides what it would refuse. */
export function atLeast(user: User, role: Role): boolean {
  return atLeastRole(user.role, role);
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session>({ state: 'loading' });

  useEffect(() => {
    whenSignedOut((reason) => setSession({ state: 'signed-out', reason }));
    call(api.GET('/v1/me'))
      .then((user) => setSession({ state: 'signed-in', user }))
      .catch((err: unknown) => {
        const reason = err instanceof ApiError && err.status !== 401 ? err.message : null;
        setSession({ state: 'signed-out', reason });
      });
    return () => whenSignedOut(null);
  }, []);

  const signIn = useCallback(async (email: string, password: string) => {
    const answer = await call(api.POST('/v1/auth/login', { body: { email, password, session: 'cookie' } }));
    setSession({ state: 'signed-in', user: answer.user });
  }, []);

  const signOut = useCallback(async () => {
    await call(api.POST('/v1/auth/logout')).catch(() => undefined);
    setSession({ state: 'signed-out', reason: 'You have signed out.' });
  }, []);

  const value = useMemo(() => ({ session, signIn, signOut }), [session, signIn, signOut]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useSession(): SessionApi {
  const value = useContext(Context);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}

/** The signed-in user (inside the signed-in part of the app). */
export function useUser(): User {
  const { session } = useSession();
  if (session.state !== 'signed-in') throw new Error('useUser while signed out');
  return session.user;
}
