// Used by tests/python/test_docs.py: parses the library's steps and the docs' Groovy snippets with
// Groovy's own parser (the one Jenkins runs), in one process, and prints what it found as JSON.
//
//   groovy docs_groovy.groovy SNIPPETS.json vars/mlciA.groovy vars/mlciB.groovy ...
//
// For each step: the arguments of its `Defaults.merge(this, '<step>', [defaults...], args)` map, each with
// the type of its default (null: any), and its `Defaults.require(this, '<step>', cfg, [names])` calls,
// with the `cfg.<flag>` of an enclosing `if` (required only when that flag is true).
// For each snippet: the parse error, or every call of an `mlci*` method with its named arguments and
// the type of each literal value (null when the value is an expression whose type is not literal), the
// value of each boolean literal (flags), and whether an argument is not a map literal (opaque).
import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import org.codehaus.groovy.ast.ClassCodeVisitorSupport
import org.codehaus.groovy.ast.expr.ConstantExpression
import org.codehaus.groovy.ast.expr.Expression
import org.codehaus.groovy.ast.expr.GStringExpression
import org.codehaus.groovy.ast.expr.ListExpression
import org.codehaus.groovy.ast.expr.MapExpression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.expr.PropertyExpression
import org.codehaus.groovy.ast.expr.StaticMethodCallExpression
import org.codehaus.groovy.ast.expr.TupleExpression
import org.codehaus.groovy.ast.expr.VariableExpression
import org.codehaus.groovy.ast.stmt.IfStatement
import org.codehaus.groovy.control.CompilationFailedException
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases
import org.codehaus.groovy.control.SourceUnit

class DocsGroovy {
    static String typeOf(Expression e) {
        if (e instanceof ConstantExpression) {
            Object v = ((ConstantExpression) e).value
            if (v == null) { return null }
            if (v instanceof String) { return 'String' }
            if (v instanceof Boolean) { return 'Boolean' }
            if (v instanceof Number) { return 'Number' }
            return v.getClass().simpleName
        }
        if (e instanceof GStringExpression) { return 'String' }
        if (e instanceof ListExpression) { return 'List' }
        if (e instanceof MapExpression) { return 'Map' }
        return null
    }

    static Map namedArgs(Expression arguments) {
        Map found = [:]
        if (arguments instanceof TupleExpression) {
            for (Expression a : ((TupleExpression) arguments).expressions) {
                if (a instanceof MapExpression) {
                    ((MapExpression) a).mapEntryExpressions.each { entry ->
                        found[entry.keyExpression.text] = typeOf(entry.valueExpression)
                    }
                }
            }
        }
        return found
    }

    static List argList(Expression arguments) {
        return arguments instanceof TupleExpression ? ((TupleExpression) arguments).expressions : [arguments]
    }

    static String methodName(Expression call) {
        if (call instanceof MethodCallExpression) { return ((MethodCallExpression) call).methodAsString }
        if (call instanceof StaticMethodCallExpression) { return ((StaticMethodCallExpression) call).method }
        return null
    }

    static String ownerName(Expression call) {
        if (call instanceof MethodCallExpression) { return ((MethodCallExpression) call).objectExpression.text }
        if (call instanceof StaticMethodCallExpression) { return ((StaticMethodCallExpression) call).ownerType.nameWithoutPackage }
        return null
    }
}

class Finder extends ClassCodeVisitorSupport {
    SourceUnit source
    List calls = []
    List conditions = []
    Map steps = [:]

    protected SourceUnit getSourceUnit() { source }

    void visitIfElse(IfStatement s) {
        s.booleanExpression.visit(this)
        Expression c = s.booleanExpression.expression
        String flag = (c instanceof PropertyExpression && ((PropertyExpression) c).objectExpression instanceof VariableExpression) ?
            ((PropertyExpression) c).propertyAsString : null
        conditions.push(flag)
        s.ifBlock.visit(this)
        conditions.pop()
        conditions.push(null)
        s.elseBlock.visit(this)
        conditions.pop()
    }

    void visitMethodCallExpression(MethodCallExpression call) {
        record(call, call.arguments)
        super.visitMethodCallExpression(call)
    }

    void visitStaticMethodCallExpression(StaticMethodCallExpression call) {
        record(call, call.arguments)
        super.visitStaticMethodCallExpression(call)
    }

    void record(Expression call, Expression arguments) {
        String name = DocsGroovy.methodName(call)
        if (name ==~ /mlci[A-Z]\w*/) {
            List given = DocsGroovy.argList(arguments)
            Map flags = [:]
            given.findAll { it instanceof MapExpression }.each { m ->
                ((MapExpression) m).mapEntryExpressions.each { entry ->
                    Expression v = entry.valueExpression
                    if (v instanceof ConstantExpression && ((ConstantExpression) v).value instanceof Boolean) {
                        flags[entry.keyExpression.text] = ((ConstantExpression) v).value
                    }
                }
            }
            calls << [step: name, line: call.lineNumber, args: DocsGroovy.namedArgs(arguments), flags: flags,
                      opaque: given.any { !(it instanceof MapExpression) }]
        }
        if (DocsGroovy.ownerName(call) == 'Defaults' && name in ['merge', 'require']) {
            List a = DocsGroovy.argList(arguments)
            if (a.size() == 4 && a[1] instanceof ConstantExpression) {
                Map step = steps.get(a[1].text, [defaults: [:], required: []])
                if (name == 'merge' && a[2] instanceof MapExpression) {
                    ((MapExpression) a[2]).mapEntryExpressions.each { entry ->
                        step.defaults[entry.keyExpression.text] = DocsGroovy.typeOf(entry.valueExpression)
                    }
                }
                if (name == 'require' && a[3] instanceof ListExpression) {
                    String when = conditions.find { it != null }
                    step.required << [names: a[3].expressions*.text, when: when]
                }
            }
        }
    }
}

static Map parseSnippet(String name, String text) {
    CompilationUnit unit = new CompilationUnit()
    SourceUnit source = unit.addSource(name, text)
    try {
        unit.compile(Phases.CONVERSION)
    } catch (CompilationFailedException e) {
        return [error: e.message.readLines().findAll { it.trim() }.take(3).join(' ')]
    }
    Finder finder = new Finder(source: source)
    source.AST.classes.each { finder.visitClass(it) }
    return [error: null, calls: finder.calls, steps: finder.steps]
}

Map out = [steps: [:], snippets: [:]]
args.drop(1).each { path ->
    Map r = parseSnippet(path, new File(path).text)
    if (r.error) { throw new IllegalStateException("${path}: ${r.error}") }
    out.steps.putAll(r.steps)
}
new JsonSlurper().parse(new File(args[0])).each { id, text ->
    Map r = parseSnippet(id as String, text as String)
    out.snippets[id] = [error: r.error, calls: r.calls ?: []]
}
println JsonOutput.toJson(out)
