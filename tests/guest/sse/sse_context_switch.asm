; SSE state across a simulated context switch in long mode: task A computes
; with XMM registers and a non-default MXCSR, is saved with FXSAVE64; task B
; enables XCR0 = x87|SSE with XSETBV, computes, is saved with XSAVE64; A is
; restored with FXRSTOR64 and finishes, then B is restored with XRSTOR64.
; All values are exact in binary floating point (SDM Vol. 1 10.5, ch. 13;
; Vol. 2 FXSAVE, FXRSTOR, XSAVE, XRSTOR, XSETBV, XGETBV).
; rax = A's result 1.5*2.25+2.25 = 5.625, rbx = B's sqrt(16.0) = 4.0,
; rcx = A's MXCSR after the switch (PE from CVTTSD2SI), rdx = XSTATE_BV & SSE, r8 = XCR0,
; r9 = CVTTSD2SI(5.625), r10 = A's MXCSR image at offset 24 of its FXSAVE area.
; mode: long
; backends: soft   (the reference /dev/kvm here emulates guests and cannot emulate SSE)
; expect: rax=0x4016800000000000 rbx=0x4010000000000000 rcx=0x3fa0 rdx=0x2 r8=0x3 r9=0x5 r10=0x3f80
; expect-exit: hlt
bits 64
org 0x10000
  mov rax, cr4
  or eax, (1 << 9) | (1 << 10) | (1 << 18)   ; OSFXSR, OSXMMEXCPT, OSXSAVE
  mov cr4, rax
; task A
  ldmxcsr [rel mx_a]
  movsd xmm0, [rel one_half]
  movsd xmm1, [rel two_q]
  mulsd xmm0, xmm1               ; 3.375
  fxsave64 [rel area_a]
; task B (clobbers XMM0/XMM1 and MXCSR)
  xor ecx, ecx
  mov eax, 3
  xor edx, edx
  xsetbv
  ldmxcsr [rel mx_b]
  movsd xmm1, [rel sixteen]
  sqrtsd xmm0, xmm1              ; 4.0
  xorps xmm1, xmm1
  mov eax, 3
  xor edx, edx
  xsave64 [rel area_b]
  xorps xmm0, xmm0
; back to A
  fxrstor64 [rel area_a]
  addsd xmm0, xmm1               ; 3.375 + 2.25
  movq rax, xmm0
  cvttsd2si r9, xmm0
  stmxcsr [rel scratch]
  mov ecx, [rel scratch]
  mov r10d, [rel area_a + 24]
; back to B
  mov r11, rax
  mov eax, 3
  xor edx, edx
  xrstor64 [rel area_b]
  movq rbx, xmm0
  push rcx
  xor ecx, ecx
  xgetbv
  mov r8, rax
  pop rcx
  mov rdx, [rel area_b + 512]
  and edx, 2
  mov rax, r11
  hlt

align 8
one_half: dq 1.5
two_q: dq 2.25
sixteen: dq 16.0
mx_a: dd 0x3f80
mx_b: dd 0x1f80
scratch: dd 0
align 64
area_a: times 512 db 0
align 64
area_b: times 576 db 0
