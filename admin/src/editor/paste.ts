// Pasted HTML (from a web page or a word processor) before ProseMirror reads it: styles,
// scripts and Office markup carry nothing Galley keeps, and parsing style attributes would only
// make the browser report them as refused by the page's CSP. The schema then keeps the
// structure (headings, paragraphs, lists, quotes, code, bold/italic/…, safe links) and drops
// the rest.
export function cleanPastedHtml(html: string): string {
  return html
    .replace(/<(script|style|template|xml)\b[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<\/?o:[^>]*>/gi, '')
    .replace(/\s(style|class|on[a-z]+)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi, '');
}
