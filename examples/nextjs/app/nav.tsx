"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { useAuthClient } from "@/lib/auth-client";

export function Nav({ email }: { email: string }) {
  const authClient = useAuthClient();
  const router = useRouter();
  const [busy, setBusy] = useState(false);

  async function signOut() {
    setBusy(true);
    // POST /api/auth/sign-out with the cookie: the service deletes the session and clears the
    // cookies (with the same Domain/SameSite they were set with).
    await authClient.signOut();
    router.replace("/sign-in");
    router.refresh();
  }

  return (
    <nav>
      <Link href="/tasks">Tasks</Link>
      <Link href="/sessions">Sessions</Link>
      <span className="who" data-testid="who">
        {email}
      </span>
      <button className="secondary" onClick={signOut} disabled={busy}>
        Sign out
      </button>
    </nav>
  );
}
