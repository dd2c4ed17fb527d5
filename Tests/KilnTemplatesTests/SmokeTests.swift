import KilnTemplates
import Testing

@Test func smoke() throws {
    let t = try Template(source: "{% for x in xs %}{{ loop.index }}={{ x|upper }}{% if not loop.last %}, {% endif %}{% endfor %}")
    #expect(try t.render(["xs": ["a", "b"]]) == "1=A, 2=B")
}
