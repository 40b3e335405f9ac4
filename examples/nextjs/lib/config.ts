// Where the auth + tasks service is, read from the environment at request time (never baked
// into the build), on the server only.
//
//   API_URL           the service as the BROWSER reaches it, e.g. http://127.0.0.1:8000 or
//                     https://api.example.com (required)
//   API_INTERNAL_URL  the service as THIS Next.js server reaches it for server-side session
//                     checks (default: API_URL), e.g. http://127.0.0.1:8000 when the public name
//                     only resolves outside

function trimmed(url: string): string {
  return url.replace(/\/+$/, "");
}

/** The service's public URL, handed to the browser. */
export function publicApiUrl(): string {
  const url = process.env.API_URL;
  if (!url) {
    throw new Error("API_URL is not set: the URL of the auth + tasks service, e.g. http://127.0.0.1:8000");
  }
  return trimmed(url);
}

/** The service's URL for requests made by this server. */
export function internalApiUrl(): string {
  return trimmed(process.env.API_INTERNAL_URL || publicApiUrl());
}
