import { render } from 'preact';
import { App } from './app';
import { getLanguage } from './i18n';
import './styles.css';

document.documentElement.lang = getLanguage();
render(<App />, document.getElementById('app')!);
