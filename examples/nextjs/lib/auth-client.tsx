"use client";

// Better Auth's React client, pointed at the service, and the service's URL for the tasks API:
// both handed down from the root layout, which reads API_URL at request time.

import { createAuthClient } from "better-auth/react";
import { createContext, useContext, useMemo, type ReactNode } from "react";

type Client = ReturnType<typeof createAuthClient>;

const Ctx = createContext<{ apiUrl: string; authClient: Client } | null>(null);

export function ApiProvider({ apiUrl, children }: { apiUrl: string; children: ReactNode }) {
  // credentials: "include" is the client's default, so the session cookie set by the service
  // (another origin) is stored and sent back.
  const value = useMemo(() => ({ apiUrl, authClient: createAuthClient({ baseURL: apiUrl }) }), [apiUrl]);
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

function useApiContext() {
  const value = useContext(Ctx);
  if (!value) throw new Error("ApiProvider is missing");
  return value;
}

export function useAuthClient(): Client {
  return useApiContext().authClient;
}

export function useApiUrl(): string {
  return useApiContext().apiUrl;
}
