"use client";

import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";

/** What Better Auth's client returns: `error` is null on success. */
type Outcome = { error: { message?: string; statusText?: string } | null };

/**
 * A sign-in or sign-up form: runs `submit` with the form's fields, shows the service's error
 * message, or goes to `next` (rendered again on the server, which now sees the session cookie).
 */
export function useAuthForm(next: string, submit: (form: FormData) => Promise<Outcome>) {
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const { error } = await submit(new FormData(event.currentTarget));
    if (error) {
      setError(error.message ?? error.statusText ?? "The service refused the request");
      setBusy(false);
      return;
    }
    router.replace(next);
    router.refresh();
  }

  return { error, busy, onSubmit };
}
