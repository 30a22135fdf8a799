// The real stream-chat SDK's token provider, pointed at our token endpoint: what the frontend
// does so a four-hour session outlives a one-hour Stream token.
// node stream-token.mjs <server URL> <our JWT>  →  {first, refreshed, apiKey, userId} as JSON
import { StreamChat } from "stream-chat";

const [server, jwt] = process.argv.slice(2);
const fetchToken = async () => {
  const answer = await fetch(`${server}/api/auth/stream-token`, {
    method: "POST",
    headers: { Authorization: `Bearer ${jwt}` },
  });
  if (!answer.ok) throw new Error(`stream-token answered ${answer.status}`);
  return answer.json();
};
const { apiKey, userId } = await fetchToken();
const chat = new StreamChat(apiKey);
const tokenProvider = async () => (await fetchToken()).token;
// connectUser(user, tokenProvider) hands the provider to the SDK's token manager, which
// loads a token at once and again whenever Stream answers "token expired" (code 40).
await chat.tokenManager.setTokenOrProvider(tokenProvider, { id: userId });
const first = await chat.tokenManager.tokenReady();
await new Promise((resolve) => setTimeout(resolve, 1100));
const refreshed = await chat.tokenManager.loadToken();
console.log(JSON.stringify({ first, refreshed, apiKey, userId, type: chat.tokenManager.type }));
