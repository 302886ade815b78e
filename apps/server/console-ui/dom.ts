/**
 * The element with this id, typed by the caller; throws when the page lacks it
 * (a mismatch between index.html and the script is a build bug, not a runtime state).
 *
 * @param id - the element id
 * @returns the element
 * @example
 * ```ts
 * const input = byId<HTMLInputElement>('api-key')
 * ```
 */
export function byId<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`console: #${id} is missing from the page`);
  return found as T;
}

/**
 * Builds an element with attributes and children; strings become text nodes
 * (never HTML).
 *
 * @param tag - the tag name
 * @param attrs - attributes to set
 * @param children - nodes or text
 * @returns the element
 * @example
 * ```ts
 * el('span', { class: 'event-name' }, event.type)
 * ```
 */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}
