"use client";

import { useRouter } from "next/navigation";
import { useCallback, useEffect, useState } from "react";
import { useAuthClient } from "@/lib/auth-client";

type Listed = {
  id: string;
  token: string;
  createdAt: Date;
  expiresAt: Date;
  ipAddress?: string | null;
  userAgent?: string | null;
};

export function SessionList({ currentId }: { currentId: string }) {
  const authClient = useAuthClient();
  const router = useRouter();
  const [sessions, setSessions] = useState<Listed[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    const { data, error } = await authClient.listSessions();
    if (error) {
      if (error.status === 401) router.replace("/sign-in?next=/sessions");
      else setError(error.message ?? "Could not list the sessions");
      return;
    }
    setSessions(data as Listed[]);
  }, [authClient, router]);

  useEffect(() => {
    void load();
  }, [load]);

  async function revoke(session: Listed) {
    setError(null);
    // `token` is the service's opaque handle for the session, not its credential.
    const { error } = await authClient.revokeSession({ token: session.token });
    if (error) {
      setError(error.message ?? "Could not revoke the session");
      return;
    }
    if (session.id === currentId) {
      router.replace("/sign-in");
      router.refresh();
      return;
    }
    await load();
  }

  return (
    <section className="card" aria-label="Sessions">
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {sessions === null ? (
        <p className="muted">Loading…</p>
      ) : (
        <ul className="sessions">
          {sessions.map((s) => (
            <li key={s.id} data-testid={s.id === currentId ? "session-current" : "session-other"}>
              <span className="info">
                {s.id === currentId ? <strong>This browser</strong> : <strong>Another session</strong>}
                <br />
                <span className="muted">
                  {s.userAgent ?? "unknown client"} · {s.ipAddress ?? "unknown address"} · signed in{" "}
                  {new Date(s.createdAt).toISOString().slice(0, 16).replace("T", " ")} UTC · expires{" "}
                  {new Date(s.expiresAt).toISOString().slice(0, 10)}
                </span>
              </span>
              <button className="danger" onClick={() => void revoke(s)}>
                {s.id === currentId ? "Sign out here" : "Revoke"}
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
