package validate

import "testing"

func BenchmarkPhone(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Phone("+82 10-1234-5678")
	}
}

func BenchmarkAmount(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Amount("1억 2천만원이요")
	}
}

func BenchmarkBusinessNumber(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = BusinessNumber("220-81-62517")
	}
}

func BenchmarkEmail(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Email("Owner.Kim@Example.CO.KR")
	}
}

func BenchmarkMatchChoice(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = MatchChoice("소상공인이에요", reporterOptions)
	}
}
