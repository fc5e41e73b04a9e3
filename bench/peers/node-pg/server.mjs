// A thin Node + pg server for the 20-newest-with-bodies page: what most CMSs do per request
// (query the normalized tables, let pg parse the rows, JSON.stringify them). bench/run peers
// drives it with the same wrk load as Galley. Usage: node server.mjs PORT DATABASE_URL
import { readFileSync } from 'node:fs';
import http from 'node:http';
import pg from 'pg';

const [port, database] = process.argv.slice(2);
const page = readFileSync(new URL('./page.sql', import.meta.url), 'utf8');
// One pool per process, as large as wrk's connections would use without queueing in Node.
const pool = new pg.Pool({ connectionString: database, max: 16 });

http
  .createServer(async (request, response) => {
    if (!request.url.startsWith('/v1/articles')) {
      response.writeHead(404).end();
      return;
    }
    try {
      const { rows } = await pool.query({ name: 'page', text: page });
      const body = JSON.stringify({ data: rows, meta: { limit: 20 } });
      response.writeHead(200, { 'content-type': 'application/json' }).end(body);
    } catch (error) {
      response.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
    }
  })
  .listen(Number(port), '127.0.0.1');
