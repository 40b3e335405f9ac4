"use client";

import Link from "next/link";
import { useAuthClient } from "@/lib/auth-client";
import { useAuthForm } from "@/lib/use-auth-form";
import { SubmitRow } from "../submit-row";

export function SignInForm({ next }: { next: string }) {
  const authClient = useAuthClient();
  const { error, busy, onSubmit } = useAuthForm(next, (form) =>
    authClient.signIn.email({
      email: String(form.get("email")),
      password: String(form.get("password")),
      rememberMe: form.get("remember") === "on",
    }),
  );

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
        <SubmitRow error={error} busy={busy} label="Sign in">
          No account? <Link href="/sign-up">Sign up</Link>
        </SubmitRow>
      </form>
    </>
  );
}
