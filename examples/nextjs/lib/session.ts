// Server-side session check: the original app's pattern. A server component forwards the
// incoming Cookie header to the service's GET /api/auth/get-session and gets {session, user}
// or null. The session cookie reaches this server because it is a cookie of the same site:
// the same host (another port), or a parent domain shared with the service (COOKIE_DOMAIN).
//
// The check only reads (`disableRefresh`): a sliding refresh answers with a renewed cookie,
// which a server component cannot pass on. The browser refreshes the session itself (the
// client's useSession in app/nav.tsx), so the renewed cookie reaches it directly.

import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { internalApiUrl } from "./config";

export type User = {
  id: string;
  name: string;
  email: string;
  emailVerified: boolean;
  image: string | null;
  createdAt: string;
  updatedAt: string;
};

export type Session = {
  id: string;
  userId: string;
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
  ipAddress: string | null;
  userAgent: string | null;
};

export type SessionWithUser = { session: Session; user: User };

/** The signed-in user's session, or null. Throws when the service cannot be reached. */
export async function getServerSession(): Promise<SessionWithUser | null> {
  const incoming = await headers();
  const cookie = incoming.get("cookie");
  if (!cookie) return null;
  const response = await fetch(`${internalApiUrl()}/api/auth/get-session?disableRefresh=true`, {
    headers: { cookie, accept: "application/json" },
    cache: "no-store",
  });
  if (!response.ok) {
    throw new Error(`get-session answered ${response.status}`);
  }
  return (await response.json()) as SessionWithUser | null;
}

/** The session, or a redirect to the sign-in page that comes back to `from` afterwards. */
export async function requireSession(from: string): Promise<SessionWithUser> {
  const session = await getServerSession();
  if (!session) redirect(`/sign-in?next=${encodeURIComponent(from)}`);
  return session;
}
