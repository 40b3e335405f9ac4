"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import { useAuthClient } from "@/lib/auth-client";

export function Nav({ email }: { email: string }) {
  const authClient = useAuthClient();
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  // Better Auth's session hook: reads the session from the browser (and again when the tab
  // regains focus), which also lets the service slide its expiry and renew the cookie. A
  // session ended elsewhere (revoked, expired) sends this page to sign-in.
  const { data: session, isPending } = authClient.useSession();
  useEffect(() => {
    if (!isPending && !session && !busy) router.replace("/sign-in");
  }, [isPending, session, busy, router]);

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
