import type { ReactNode } from "react";

/** The end of a sign-in or sign-up form: the service's error, the button, a link elsewhere. */
export function SubmitRow({ error, busy, label, children }: { error: string | null; busy: boolean; label: string; children: ReactNode }) {
  return (
    <>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="row">
        <button type="submit" disabled={busy}>
          {label}
        </button>
        <span className="muted">{children}</span>
      </div>
    </>
  );
}
