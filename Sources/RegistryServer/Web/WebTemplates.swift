import Mustache

/// The web page's templates, in the binary (a registry needs no files beside it to serve its
/// page). Mustache escapes every `{{value}}` for HTML; nothing here needs JavaScript.
enum WebTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in [("header", header), ("footer", footer), ("index", index), ("signin", signin), ("repository", repository),
                             ("image", image), ("diff", diff), ("notfound", notFound)] {
            do { try library.register(text, named: name) } catch { preconditionFailure("template \(name): \(error)") }
        }
        return library
    }()

    static let header = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Strata registry</title>
        <link rel="stylesheet" href="/static/style.css">
        </head>
        <body>
        <header class="bar">
          <a class="brand" href="/">Strata registry</a>
          <form class="search" action="/" method="get" role="search">
            <input type="search" name="q" value="{{query}}" placeholder="Search repositories" aria-label="Search repositories">
          </form>
          <nav class="account">
          {{#user}}<span class="who">{{user}}</span>
            <form action="/signout" method="post"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Sign out</button></form>{{/user}}
          {{^user}}{{#signinEnabled}}<a href="/signin">Sign in</a>{{/signinEnabled}}{{/user}}
          </nav>
        </header>
        <main>
        """

    static let footer = """
        </main>
        <footer class="foot">Strata registry · the OCI distribution API is at <code>/v2/</code></footer>
        </body>
        </html>
        """

    static let index = """
        {{> header}}
        <h1>{{#query}}Repositories matching “{{query}}”{{/query}}{{^query}}Repositories{{/query}}</h1>
        <p class="count">{{count}} {{#one}}repository{{/one}}{{^one}}repositories{{/one}}</p>
        <ul class="repositories">
        {{#repositories}}
          <li><a href="/r/{{name}}">{{display}}</a>
            <span class="badge {{visibility}}">{{visibility}}</span>{{#official}} <span class="badge official">official</span>{{/official}}
            {{#description}}<p class="description">{{description}}</p>{{/description}}</li>
        {{/repositories}}
        {{^repositories}}<li class="empty">Nothing here{{#query}} matches{{/query}} yet. Push an image: <code>docker push {{host}}/NAMESPACE/NAME:TAG</code></li>{{/repositories}}
        </ul>
        {{> footer}}
        """

    static let signin = """
        {{> header}}
        <h1>Sign in</h1>
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form class="signin" action="/signin" method="post">
          <label>Username <input name="username" autocomplete="username" value="{{username}}" required></label>
          <label>Password or access token <input name="password" type="password" autocomplete="current-password" required></label>
          <button type="submit">Sign in</button>
        </form>
        {{> footer}}
        """

    static let repository = """
        {{> header}}
        <h1>{{display}} <span class="badge {{visibility}}">{{visibility}}</span>{{#official}} <span class="badge official">official</span>{{/official}}</h1>
        {{#description}}<p class="description">{{description}}</p>{{/description}}
        {{#canEdit}}
        <form class="describe" action="/r/{{name}}/description" method="post">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label>Description <textarea name="description" rows="2" maxlength="1000">{{description}}</textarea></label>
          <button type="submit">Save</button>
        </form>
        {{/canEdit}}
        <p class="pull"><label>Pull <input readonly value="docker pull {{host}}/{{display}}{{#firstTag}}:{{firstTag}}{{/firstTag}}"></label></p>
        <h2>Tags</h2>
        <div class="scroll"><table class="tags">
          <thead><tr><th>Tag</th><th>Digest</th><th>Size</th><th>Platforms</th><th>Pushed</th><th>By</th></tr></thead>
          <tbody>
          {{#tags}}<tr><td><a href="/r/{{name}}/tags/{{tag}}">{{tag}}</a></td><td><code title="{{digest}}">{{shortDigest}}</code></td><td>{{size}}</td>
            <td>{{platforms}}</td><td><time datetime="{{pushedAt}}">{{pushed}}</time></td><td>{{pushedBy}}</td></tr>
          {{/tags}}
          {{^tags}}<tr><td colspan="6" class="empty">No tags yet.</td></tr>{{/tags}}
          </tbody>
        </table></div>
        {{#canDiff}}
        <h2>Compare tags</h2>
        <form class="compare" action="/r/{{name}}/diff" method="get">
          <label>From <select name="from">{{#fromTags}}<option{{#selected}} selected{{/selected}}>{{tag}}</option>{{/fromTags}}</select></label>
          <label>To <select name="to">{{#toTags}}<option{{#selected}} selected{{/selected}}>{{tag}}</option>{{/toTags}}</select></label>
          <button type="submit">Compare</button>
        </form>
        {{/canDiff}}
        {{> footer}}
        """

    static let image = """
        {{> header}}
        <p class="crumbs"><a href="/r/{{name}}">{{display}}</a> / {{reference}}</p>
        <h1>{{display}}:{{reference}}</h1>
        <p class="pull"><label>Pull <input readonly value="docker pull {{host}}/{{display}}{{pullSuffix}}"></label></p>
        <p class="meta"><code>{{digest}}</code> · {{mediaType}}</p>
        {{#platforms.0}}
        <h2>Platforms</h2>
        <ul class="platforms">{{#platforms}}<li><a href="/r/{{name}}/tags/{{digest}}">{{platform}}</a> <code>{{shortDigest}}</code> {{size}}</li>{{/platforms}}</ul>
        {{/platforms.0}}
        {{#hasLayers}}
        <h2>Layers</h2>
        <p class="note">Read-only layers stacked bottom first, as a container sees them; the size is the compressed blob's.</p>
        <ol class="stack" reversed>
        {{#layers}}
          <li class="layer tall{{height}}{{#shared}} shared{{/shared}}">
            <span class="index">{{number}}</span> <code title="{{digest}}">{{shortDigest}}</code> <span class="size">{{size}}</span>
            {{#shared}}<span class="badge shared" title="also in {{sharedWith}}">shared with {{sharedWith}}</span>{{/shared}}
          </li>
        {{/layers}}
        </ol>
        <h2>History</h2>
        <div class="scroll"><table class="history">
          <thead><tr><th>Image</th><th>Created</th><th>Created by</th><th>Size</th><th>Comment</th></tr></thead>
          <tbody>{{#history}}<tr><td><code>{{id}}</code></td><td>{{created}}</td><td><code class="command">{{createdBy}}</code></td><td>{{size}}</td><td>{{comment}}</td></tr>{{/history}}</tbody>
        </table></div>
        <h2>Config</h2>
        <dl class="config">
          {{#config}}<dt>{{key}}</dt><dd>{{#values}}<code>{{.}}</code> {{/values}}{{^values}}<span class="none">none</span>{{/values}}</dd>{{/config}}
        </dl>
        {{/hasLayers}}
        {{> footer}}
        """

    static let diff = """
        {{> header}}
        <p class="crumbs"><a href="/r/{{name}}">{{display}}</a> / compare</p>
        <h1>{{display}}: {{from}} → {{to}}</h1>
        <h2>Layers</h2>
        <ul class="diff-layers">
          <li>{{sharedCount}} shared{{#sharedSize}} ({{sharedSize}}){{/sharedSize}}</li>
          <li>{{onlyFromCount}} only in {{from}}</li>
          <li>{{onlyToCount}} only in {{to}}</li>
        </ul>
        <h2>Files</h2>
        <p class="count">{{added}} added, {{changed}} changed, {{deleted}} deleted</p>
        <div class="scroll"><table class="changes">
          <thead><tr><th></th><th>Path</th><th>Size</th></tr></thead>
          <tbody>{{#changes}}<tr class="{{kindName}}"><td title="{{kindName}}">{{kind}}</td><td><code>{{path}}</code></td><td>{{size}}</td></tr>{{/changes}}
          {{^changes}}<tr><td colspan="3" class="empty">The images have the same files.</td></tr>{{/changes}}</tbody>
        </table></div>
        {{#truncated}}<p class="note">The first {{shown}} changes of {{total}}.</p>{{/truncated}}
        {{> footer}}
        """

    static let notFound = """
        {{> header}}
        <h1>Not found</h1>
        <p>{{message}}</p>
        {{> footer}}
        """

    static let style = """
        :root { --ink: #1d2430; --muted: #5b6472; --line: #d8dde5; --accent: #2457c5; --layer: #e8eefb; --shared: #fdf1d6; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 16px/1.45 system-ui, sans-serif; color: var(--ink); background: #fff; }
        a { color: var(--accent); }
        .bar { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
        .brand { font-weight: 700; text-decoration: none; color: var(--ink); }
        .search { flex: 1 1 12rem; }
        .search input { width: 100%; padding: .35rem .5rem; }
        .account { display: flex; gap: .5rem; align-items: center; }
        .account form { margin: 0; }
        main { max-width: 64rem; margin: 0 auto; padding: 1rem; }
        h1 { font-size: 1.5rem; overflow-wrap: anywhere; }
        code { font: 14px/1.3 ui-monospace, monospace; overflow-wrap: anywhere; }
        .badge { display: inline-block; font-size: .75rem; padding: 0 .4rem; border-radius: .6rem; border: 1px solid var(--line); color: var(--muted); vertical-align: middle; }
        .badge.private { background: #fbe7e7; } .badge.official { background: #e3f4e6; } .badge.shared { background: var(--shared); }
        .repositories { list-style: none; padding: 0; }
        .repositories li { padding: .6rem 0; border-bottom: 1px solid var(--line); }
        .description { margin: .2rem 0; color: var(--muted); }
        .pull input { width: 100%; font: 14px ui-monospace, monospace; padding: .35rem; }
        .scroll { overflow-x: auto; }
        .tags code, .history td:first-child code { white-space: nowrap; overflow-wrap: normal; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        .stack { list-style: none; padding: 0; display: flex; flex-direction: column-reverse; gap: 2px; }
        .layer { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; padding: 0 .6rem; min-height: 1.6rem; background: var(--layer); border: 1px solid #b9c8ee; border-radius: 3px; overflow: hidden; }
        .tall1 { height: 1.7rem; } .tall2 { height: 2rem; } .tall3 { height: 2.3rem; } .tall4 { height: 2.6rem; } .tall5 { height: 2.9rem; }
        .tall6 { height: 3.3rem; } .tall7 { height: 3.7rem; } .tall8 { height: 4.1rem; } .tall9 { height: 4.5rem; } .tall10 { height: 5rem; }
        .layer.shared { background: var(--shared); border-color: #e5c77c; }
        .layer .index { color: var(--muted); font-size: .8rem; }
        .config dt { font-weight: 600; margin-top: .5rem; }
        .config dd { margin: 0 0 0 1rem; }
        .none, .empty, .note, .count, .meta, .crumbs { color: var(--muted); }
        .error { color: #a31515; }
        .signin label, .describe label { display: block; margin: .5rem 0; }
        .signin input, .describe textarea { display: block; width: 100%; max-width: 24rem; padding: .35rem; }
        .changes tr.added td:first-child { color: #1b7a2f; } .changes tr.deleted td:first-child { color: #a31515; } .changes tr.changed td:first-child { color: #8a6100; }
        .foot { text-align: center; color: var(--muted); font-size: .85rem; padding: 2rem 1rem; }
        @media (max-width: 40rem) { main { padding: .6rem; } th, td { padding: .3rem; } .history td:nth-child(5), .history th:nth-child(5) { display: none; } }
        """
}
