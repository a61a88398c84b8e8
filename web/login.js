// login.js - the login form: posts JSON to /login and goes to the dashboard; says why a login failed.
// Without JavaScript the form posts itself and the server redirects (?error=... says why).

const MESSAGES = {
  bad: 'Wrong name or password.',
  throttled: 'Too many failed logins: wait a little and try again.',
  unavailable: 'The server cannot check logins right now.',
};

const form = document.getElementById('login');
const error = document.getElementById('error');

function say(key, fallback) {
  error.textContent = MESSAGES[key] || fallback || 'Login failed.';
  error.hidden = false;
}

const initial = new URLSearchParams(location.search).get('error');
if (initial) say(initial);

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  error.hidden = true;
  const body = JSON.stringify({ name: form.name.value, password: form.password.value });
  let res;
  try {
    res = await fetch('/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body, credentials: 'same-origin' });
  } catch {
    say('unavailable');
    return;
  }
  if (res.ok) {
    location.assign('/');
    return;
  }
  const key = res.status === 401 ? 'bad' : res.status === 429 ? 'throttled' : res.status === 503 ? 'unavailable' : '';
  let msg = '';
  try { msg = (await res.json()).error; } catch { /* not JSON */ }
  say(key, msg);
  form.password.value = '';
  form.password.focus();
});
