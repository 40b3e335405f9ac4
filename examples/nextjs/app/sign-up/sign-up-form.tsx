"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { useAuthClient } from "@/lib/auth-client";

export function SignUpForm() {
  const authClient = useAuthClient();
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    // The service answers with the session cookie (and signs the user in), as Better Auth does.
    const { error } = await authClient.signUp.email({
      name: String(form.get("name")),
      email: String(form.get("email")),
      password: String(form.get("password")),
    });
    if (error) {
      setError(error.message ?? error.statusText ?? "Sign-up failed");
      setBusy(false);
      return;
    }
    router.replace("/tasks");
    router.refresh();
  }

  return (
    <>
      <h1>Create an account</h1>
      <form className="card" onSubmit={onSubmit}>
        <label htmlFor="name">Name</label>
        <input id="name" name="name" type="text" autoComplete="name" required maxLength={200} />
        <label htmlFor="email">Email</label>
        <input id="email" name="email" type="email" autoComplete="email" required />
        <label htmlFor="password">Password (8 to 128 characters)</label>
        <input id="password" name="password" type="password" autoComplete="new-password" required minLength={8} maxLength={128} />
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="row">
          <button type="submit" disabled={busy}>
            Sign up
          </button>
          <span className="muted">
            Have an account? <Link href="/sign-in">Sign in</Link>
          </span>
        </div>
      </form>
    </>
  );
}
