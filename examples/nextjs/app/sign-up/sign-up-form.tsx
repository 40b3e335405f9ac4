"use client";

import Link from "next/link";
import { useAuthClient } from "@/lib/auth-client";
import { useAuthForm } from "@/lib/use-auth-form";
import { SubmitRow } from "../submit-row";

export function SignUpForm() {
  const authClient = useAuthClient();
  // The service answers with the session cookie (signing the user in), as Better Auth does.
  const { error, busy, onSubmit } = useAuthForm("/tasks", (form) =>
    authClient.signUp.email({
      name: String(form.get("name")),
      email: String(form.get("email")),
      password: String(form.get("password")),
    }),
  );

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
        <SubmitRow error={error} busy={busy} label="Sign up">
          Have an account? <Link href="/sign-in">Sign in</Link>
        </SubmitRow>
      </form>
    </>
  );
}
