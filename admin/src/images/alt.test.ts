import { describe, expect, it } from 'vitest';
import { altProblem } from './alt';

describe('altProblem', () => {
  it('flags missing alt text', () => {
    expect(altProblem(null)).toMatch(/No alt text/);
    expect(altProblem('   ')).toMatch(/No alt text/);
  });
  it('flags placeholders left by templates, in any case', () => {
    for (const alt of ['undefined', 'Undefined', 'null', 'IMAGE', '[object Object]']) expect(altProblem(alt)).toMatch(/not a description/);
  });
  it('flags file names', () => {
    expect(altProblem('IMG_2043.JPG')).toMatch(/file name/);
    expect(altProblem('banner final.webp')).toMatch(/file name/);
  });
  it('accepts descriptions in any language, and a fallback when the override is absent', () => {
    expect(altProblem('White+ drummer Wang Xu at Bye Bye Disco Beijing')).toBeNull();
    expect(altProblem('管静鹏在北京')).toBeNull();
    expect(altProblem('The 2024 photo.jpg of the crowd')).toBeNull();
    expect(altProblem(null, 'A crowd at a concert')).toBeNull();
    expect(altProblem(null, 'undefined')).toMatch(/not a description/);
  });
});
