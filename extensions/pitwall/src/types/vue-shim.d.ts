// Single-file components are compiled by the extensions SDK's build; tsc only needs to know they export a component.
declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent;
  export default component;
}
