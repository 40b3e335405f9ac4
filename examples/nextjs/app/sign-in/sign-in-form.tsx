"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { useAuthClient } from "@/lib/auth-client";

export function SignInForm({ next }: { next: string }) {
  const authClient = useAuthClient();
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    const { error } = await authClient.signIn.email({
      email: String(form.get("email")),
      password: String(form.get("password")),
      rememberMe: form.get("remember") === "on",
    });
    if (error) {
      setError(error.message ?? error.statusText ?? "Sign-in failed");
      setBusy(false);
      return;
    }
    router.replace(next);
    router.refresh();
  }

  return (
    <>
      <h1>Sign in</h1>
      <form className="card" onSubmit={onSubmit}>
        <label htmlFor="email">Email</label>
        <input id="email" name="email" type="email" autoComplete="email" required />
        <label htmlFor="password">Password</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required />
        <label>
          <input name="remember" type="checkbox" defaultChecked /> Remember me
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="row">
          <button type="submit" disabled={busy}>
            Sign in
          </button>
          <span className="muted">
            No account? <Link href="/sign-up">Sign up</Link>
          </span>
        </div>
      </form>
    </>
  );
}
